(define user "bob")
(list user host)
