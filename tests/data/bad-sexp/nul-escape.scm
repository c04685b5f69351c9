(define s "a\0b")
