(list (build-machine
       (name "a.example.org")
       (user "offload")
       (private-key "/")))
