(list (build-machine
       (name "offload@a.example.org")
       (user "offload")))
