(build-machine (name "a") (port 22a))
