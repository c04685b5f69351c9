(list (build-machine
       (name "a.example.org")
       (user "offload")
       (speed -1.5)))
