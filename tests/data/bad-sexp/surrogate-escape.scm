(define s "\ud800")
