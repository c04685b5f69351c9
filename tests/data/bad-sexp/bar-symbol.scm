(define |odd name| 1)
