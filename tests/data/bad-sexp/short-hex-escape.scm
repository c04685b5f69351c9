(define s "\x4")
