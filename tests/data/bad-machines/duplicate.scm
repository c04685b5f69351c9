;; The same machine twice: a warning, and the second entry is dropped.
(define (machine speed)
  (build-machine
   (name "a.example.org")
   (user "offload")
   (speed speed)))

(list (machine 1.0)
      (build-machine (name "b.example.org") (user "offload"))
      (build-machine (name "A.Example.Org") (user "root") (port 22)))
