(define f (lambda args args))
