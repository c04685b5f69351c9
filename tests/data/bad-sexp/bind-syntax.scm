(define (f if) if)
