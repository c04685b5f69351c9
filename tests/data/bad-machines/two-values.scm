(list (build-machine
       (name "a.example.org")
       (user "offload")
       (port 22 2222)))
