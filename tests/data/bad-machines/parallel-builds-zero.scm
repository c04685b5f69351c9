(list (build-machine
       (name "a.example.org")
       (user "offload")
       (parallel-builds 0)))
