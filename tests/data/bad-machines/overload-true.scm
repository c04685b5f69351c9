(list (build-machine
       (name "a.example.org")
       (user "offload")
       (overload-threshold #t)))
