(list (build-machine
       (name "a.example.org")
       (user "offload")
       (systems "x86_64-linux")))
