# The derivations of tests/vectors/drv, written with builtins.derivation
# only.  make-drv-vectors.sh instantiates each attribute with the hashes of
# the fixed outputs as arguments (it computes them with nix-hash first) and
# `control`, a string with control characters (hard to write in this file).
{ flatB16, flatN32, flatSri, flatPrefixed, recB16, recN32, recSri, flatSha1, recSha512, control }:

let
  mk = attrs: builtins.derivation ({
    system = "x86_64-linux";
    builder = "/bin/sh";
  } // attrs);
  flat = attrs: mk ({
    name = "fixed-flat";
    args = [ "-c" "printf 'fixed flat\\n' > $out" ];
  } // attrs);
  recursive = attrs: mk ({
    name = "fixed-recursive";
    args = [ "-c" "/bin/mkdir $out && echo hi > $out/file && echo there > $out/other" ];
    outputHashMode = "recursive";
  } // attrs);
in rec {
  # One output.
  hello = mk {
    name = "hello";
    args = [ "-c" "echo hello > $out" ];
  };

  # Two outputs (the first one listed is the default).
  two-outputs = mk {
    name = "two-outputs";
    outputs = [ "out" "dev" ];
    args = [ "-c" "echo out > $out; echo dev > $dev" ];
  };

  # One output that is not "out": its path is named "<name>-bin".
  only-bin = mk {
    name = "only-bin";
    outputs = [ "bin" ];
    args = [ "-c" "echo bin > $bin" ];
  };

  # Fixed-output, flat: SHA-256 of the bytes "fixed flat\n", given in several
  # encodings.  Same output path, different .drv files (env differs).
  fixed-flat-base16 = flat { outputHashAlgo = "sha256"; outputHash = flatB16; };
  fixed-flat-nix32 = flat { outputHashAlgo = "sha256"; outputHash = flatN32; };
  fixed-flat-sri = flat { outputHash = flatSri; };
  fixed-flat-prefixed = flat { outputHash = flatPrefixed; };

  # Fixed-output, recursive: SHA-256 of the NAR of a small directory.
  fixed-recursive-base16 = recursive { outputHashAlgo = "sha256"; outputHash = recB16; };
  fixed-recursive-nix32 = recursive { outputHashAlgo = "sha256"; outputHash = recN32; };
  fixed-recursive-sri = recursive { outputHash = recSri; };

  # Other hash algorithms (the .drv says "sha1", "r:sha512").
  fixed-flat-sha1 = flat { outputHashAlgo = "sha1"; outputHash = flatSha1; };
  fixed-recursive-sha512 = recursive { outputHashAlgo = "sha512"; outputHash = recSha512; };

  # Depends on three derivations: one output each of hello, two-outputs
  # (only "dev") and a fixed-output one.
  dependent = mk {
    name = "dependent";
    args = [ "-c" "echo ${hello} ${two-outputs.dev} ${fixed-flat-base16} > $out" ];
  };

  # A second level: both outputs of two-outputs, a recursive fixed output.
  dependent2 = mk {
    name = "dependent2";
    args = [ "-c" "echo ${dependent} ${two-outputs.out} ${two-outputs.dev} ${fixed-recursive-sri} > $out" ];
  };

  # A source from builtins.toFile (an input source, not an input derivation),
  # and one toFile that refers to another.
  tofile = let
    script = builtins.toFile "builder.sh" "echo from-file > $out\n";
    data = builtins.toFile "data.txt" "see ${script}\n";
  in mk {
    name = "tofile";
    args = [ "-e" script ];
    inherit data;
  };

  # Strings with every escape the ATerm printer uses, plus bytes it prints
  # as they are (UTF-8, '$', a control character) and an empty value.
  escapes = mk {
    name = "escapes";
    args = [ "-c" "echo \"quoted\" 'single' \\\\ > $out" "tab\there" ];
    quotes = "a \"quoted\" word";
    backslashes = "one \\ two \\\\ end\\";
    newlines = "line 1\nline 2\n\nline 4\n";
    tabs = "\tcol1\tcol2\t";
    cr = "dos\r\nline\r";
    mixed = "\"\\\n\t\r\\\"";
    utf8 = "é ü ∀ 😀";
    dollar = "$out \${not} $$";
    inherit control;
    empty = "";
  };
}
