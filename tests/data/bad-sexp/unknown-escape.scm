(define key "C:\keys\id")
