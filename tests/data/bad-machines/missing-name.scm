(list (build-machine
       (user "offload")
       (systems (list "x86_64-linux"))))
