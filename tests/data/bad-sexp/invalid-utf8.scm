(define name "cafÃ")
