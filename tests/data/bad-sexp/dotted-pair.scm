(define p '(a . b))
