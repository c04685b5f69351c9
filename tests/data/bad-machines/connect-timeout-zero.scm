(list (build-machine
       (name "a.example.org")
       (user "offload")
       (connect-timeout 0)))
