package io.quantbridge.cli;

import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import io.quantbridge.backend.Capabilities;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Lists every backend, usable or not, and why. */
@Command(name = "backends", mixinStandardHelpOptions = true,
        description = "List every backend with its status, rank and capabilities, and which one is selected.")
final class BackendsCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = "--verbose", description = "Stack traces on failure.")
    boolean verbose;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        BackendSelector selector = BackendSelector.fromEnvironment();
        out.printf(Locale.ROOT, "%-9s %-5s %-8s %s%n", "BACKEND", "RANK", "STATUS", "DETAIL");
        for (Backend b : selector.backends()) {
            var s = b.status();
            String detail = s.usable() ? (s.reason() == null ? "" : s.reason())
                    : s.reason() + (s.fix() == null ? "" : "; " + s.fix());
            out.printf(Locale.ROOT, "%-9s %-5d %-8s %s%n", b.id(), b.rank(), s.usable() ? "usable" : "unusable",
                    detail);
        }
        out.println();
        for (Backend b : selector.backends()) {
            Capabilities c = b.capabilities();
            out.printf(Locale.ROOT, "%-9s precisions %s; calibrators %s; targets %s; quantizes %s; reads %s%n",
                    b.id(), lower(c.precisions()), lower(c.calibrators()), c.targets(), c.quantizes(),
                    c.modelExtensions());
        }
        out.println();
        try {
            BackendSelector.Choice choice = selector.select(null);
            out.println("selected: " + choice.backend().id() + " (" + choice.source() + ")");
        } catch (RuntimeException e) {
            // the selector's message ends with the status table, printed above already
            String why = e.getMessage().lines().findFirst().orElse("").replaceFirst(";? ?the backends are:$", "");
            out.println("selected: none (" + why + ")");
            return 1;
        }
        return 0;
    }

    private static String lower(java.util.Set<? extends Enum<?>> values) {
        TreeSet<String> names = new TreeSet<>();
        values.forEach(v -> names.add(v.name().toLowerCase(Locale.ROOT)));
        return names.toString();
    }
}
