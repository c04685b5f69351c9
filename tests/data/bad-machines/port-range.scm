(list (build-machine (name "a.example.org") (user "offload") (port 65536)))
