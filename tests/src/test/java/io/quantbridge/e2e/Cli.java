package io.quantbridge.e2e;

import io.quantbridge.cli.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

/** One run of the command line in this JVM: its exit code and what it printed on stdout and stderr. */
record Cli(int code, String out, String err) {
    static Cli run(String... args) {
        StringWriter o = new StringWriter();
        StringWriter e = new StringWriter();
        int code = Main.run(args, new PrintWriter(o), new PrintWriter(e));
        return new Cli(code, o.toString(), e.toString());
    }

    static Cli run(List<String> args) {
        return run(args.toArray(String[]::new));
    }
}
