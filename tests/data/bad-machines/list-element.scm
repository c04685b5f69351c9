(list (build-machine (name "a.example.org") (user "offload"))
      "b.example.org")
