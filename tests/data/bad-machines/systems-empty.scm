(list (build-machine
       (name "a.example.org")
       (user "offload")
       (systems (list))))
