package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code quantbridge} command: quantize, eval, bench, inspect, backends. */
@Command(name = "quantbridge", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Calibrate float models in Java and write INT8/FP16 artifacts for TensorRT, TFLite, OpenVINO "
                + "and ONNX Runtime.",
        subcommands = {QuantizeCommand.class, EvalCommand.class, BenchCommand.class, InspectCommand.class,
                BackendsCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        // library warnings (java.util.logging) as one line, "WARNING: ...", not two with a timestamp and a class name
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "%4$s: %5$s%6$s%n");
        }
        PrintWriter err = new PrintWriter(System.err, true);
        Interrupts.install(err);
        System.exit(run(args, new PrintWriter(System.out, true), err));
    }

    /** Runs the tool and returns its exit code: 0 success, 1 failure, 2 bad usage. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (verbose) {
                ex.printStackTrace(err);
            }
            err.println("quantbridge " + commandLine.getCommandName() + ": " + oneLine(ex));
            if (!verbose && !(ex instanceof QuantbridgeException)) {
                err.println("(run with --verbose for the stack trace)");
            }
            err.flush();
            return 1;
        });
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            String message = ex.getMessage();
            if (message != null && message.contains("Malformed input or input contains unmappable characters")) {
                // a path argument the JVM cannot take in its locale's file-name encoding
                message += io.quantbridge.util.InputFiles.encodingHint(message);
            }
            err.println("quantbridge " + c.getCommandName() + ": " + message);
            err.println("see: quantbridge " + (c.getParent() == null ? "" : c.getCommandName() + " ") + "--help");
            err.flush();
            return 2;
        });
        int code;
        try {
            code = cl.execute(args);
        } catch (OutOfMemoryError e) {
            String sub = cl.getParseResult() != null && cl.getParseResult().subcommand() != null
                    ? cl.getParseResult().subcommand().commandSpec().name() : "";
            err.println(outOfMemory(sub, e, Runtime.getRuntime().maxMemory()));
            code = 1;
        }
        out.flush();
        err.flush();
        return code;
    }

    /**
     * The one line printed when the JVM runs out of memory (heap or direct buffers): what ran out, how much the JVM
     * had, and how to give it more. Files being written are temporary until complete, so nothing half-written stays.
     */
    static String outOfMemory(String command, OutOfMemoryError e, long maxHeap) {
        String what = e.getMessage() == null ? "out of memory" : e.getMessage();
        return "quantbridge" + (command.isEmpty() ? "" : " " + command) + ": the JVM ran out of memory (" + what
                + "; maximum heap " + (maxHeap >> 20) + " MiB, which also caps direct buffers). Give it more, e.g. "
                + "QUANTBRIDGE_JAVA_OPTS=-Xmx8g for bin/quantbridge or java -Xmx8g, or use a smaller --size";
    }

    static String oneLine(Throwable ex) {
        String m = ex.getMessage();
        if (m == null || m.isBlank()) {
            m = ex.getClass().getSimpleName();
        } else if (!(ex instanceof QuantbridgeException)) {
            m = ex.getClass().getSimpleName() + ": " + m;
        }
        return m;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"quantbridge " + (v == null ? "(development build)" : v)};
        }
    }
}
