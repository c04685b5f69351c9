(list (build-machine
       (name "a.example.org")
       (user "offload")
       (features (list "kvm" "big,parallel"))))
