(list (define x 1))
