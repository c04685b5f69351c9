(build-machine (inherit "a") (name "b"))
