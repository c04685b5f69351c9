(define ok #tru)
