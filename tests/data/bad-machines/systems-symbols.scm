(list (build-machine
       (name "a.example.org")
       (user "offload")
       (systems (quote (x86_64-linux)))))
