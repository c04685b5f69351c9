(define (loop x) (list (loop x)))
(loop 1)
