(define port 22)
(string-append "host:"
               port)
