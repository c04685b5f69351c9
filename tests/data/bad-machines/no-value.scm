;; Only definitions: the file has no value.
(define machines
  (list (build-machine (name "a.example.org") (user "offload"))))
