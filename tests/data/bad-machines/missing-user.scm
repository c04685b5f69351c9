(define (machine host)
  (build-machine
   (name host)
   (systems (list "x86_64-linux"))))

(list (machine "a.example.org"))
