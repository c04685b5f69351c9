;; A derivation for another system: "aarch64-linux".  A machine builds a
;; derivation only for its own system or one named in its
;; $YONDER_CONFIG_DIR/extra-systems file, and the daemon sends it only to a
;; build machine whose machines.scm entry lists the system.  In `make demo`
;; the system is a label: m3 is an x86-64 namespace that declares
;; "aarch64-linux" (in machines.scm and in its extra-systems), so the
;; /bin/sh below is the host's.  On a real aarch64 machine it is that
;; machine's own shell.
;;
;;   yonder build examples/aarch64.scm   # with a daemon that knows such a machine
(derivation
  (name "aarch64-hello")
  (system "aarch64-linux")
  (builder "/bin/sh")
  (args "-c" "echo \"built on $(/bin/uname -n) for $system\" > $out"))
