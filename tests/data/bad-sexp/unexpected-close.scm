(list (build-machine (name "a") (user "b"))))
