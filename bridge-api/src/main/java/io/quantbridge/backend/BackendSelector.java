package io.quantbridge.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.request.QuantizationRequest;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.ServiceLoader;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Chooses a backend. Precedence: an explicit choice (the {@code --backend} option), then the system property
 * {@value #PROPERTY}, then the environment variable {@value #ENV}, then the key {@code backend} of the config file,
 * otherwise the usable backend of highest rank. When the default is chosen for a model, a backend that does not read
 * the model's format is passed over, and so is one that says it cannot read this model ({@link Backend#readProblem}):
 * OpenVINO's ONNX reader, say, fails on models that ONNX Runtime runs. The default for a quantization request
 * ({@link #selectToQuantize}) also passes over a backend that would refuse the request ({@link Backend#requestProblem}).
 * An explicit or configured choice is never replaced.
 *
 * <p>The config file is the one named by the system property {@value #CONFIG_PROPERTY} or the environment variable
 * {@value #CONFIG_ENV}, else {@code ~/.config/quantbridge/quantbridge.properties} when it exists.
 */
public final class BackendSelector {
    public static final String PROPERTY = "quantbridge.backend";
    public static final String ENV = "QUANTBRIDGE_BACKEND";
    public static final String CONFIG_PROPERTY = "quantbridge.config";
    public static final String CONFIG_ENV = "QUANTBRIDGE_CONFIG";
    public static final String CONFIG_KEY = "backend";

    /**
     * Which backend was chosen and what chose it ("--backend", "system property quantbridge.backend", ...), and, for
     * the default, the higher-ranked usable backends passed over because they cannot read the model, each as "id
     * cannot read NAME: why".
     */
    public record Choice(Backend backend, String source, List<String> passedOver) {
        public Choice {
            passedOver = List.copyOf(passedOver);
        }

        public Choice(Backend backend, String source) {
            this(backend, source, List.of());
        }

        /** Whether the backend was named (option, property, environment or config file) rather than defaulted. */
        public boolean configured() {
            return !source.startsWith(DEFAULT);
        }
    }

    private static final String DEFAULT = "default";

    private final List<Backend> backends;
    private final Map<String, String> properties;
    private final Map<String, String> environment;
    private final Path defaultConfig;

    public BackendSelector(List<Backend> backends, Map<String, String> properties, Map<String, String> environment,
                           Path defaultConfig) {
        List<Backend> sorted = new ArrayList<>(backends);
        sorted.sort(Comparator.comparingInt(Backend::rank).reversed().thenComparing(Backend::id));
        this.backends = List.copyOf(sorted);
        this.properties = Map.copyOf(properties);
        this.environment = Map.copyOf(environment);
        this.defaultConfig = defaultConfig;
    }

    /** The backends on the class path, with this JVM's system properties and environment. */
    public static BackendSelector fromEnvironment() {
        Map<String, String> props = new java.util.HashMap<>();
        System.getProperties().forEach((k, v) -> props.put(k.toString(), v.toString()));
        Path home = Path.of(System.getProperty("user.home", "."));
        return new BackendSelector(discover(), props, System.getenv(),
                home.resolve(".config").resolve("quantbridge").resolve("quantbridge.properties"));
    }

    /** Every backend that {@link ServiceLoader} finds, by descending rank. */
    public static List<Backend> discover() {
        List<Backend> found = new ArrayList<>();
        ServiceLoader.load(Backend.class).forEach(found::add);
        found.sort(Comparator.comparingInt(Backend::rank).reversed().thenComparing(Backend::id));
        return found;
    }

    public List<Backend> backends() {
        return backends;
    }

    public Optional<Backend> find(String id) {
        String key = id.trim().toLowerCase(Locale.ROOT);
        return backends.stream().filter(b -> b.id().equals(key)).findFirst();
    }

    /** Selects by the precedence above; {@code explicit} may be null. Fails with every backend's status listed. */
    public Choice select(String explicit) {
        return select(explicit, null);
    }

    /**
     * As {@link #select(String)}, but the default (when nothing is configured) is the highest-ranked usable backend
     * that reads {@code model} (any, when {@code model} is null).
     */
    public Choice select(String explicit, Path model) {
        Choice configured = configured(explicit);
        if (configured != null) return configured;
        return firstUsable("reads the model", model == null ? "" : " reads " + model.getFileName(),
                b -> model == null || b.capabilities().reads(model),
                b -> model == null ? Optional.empty() : b.readProblem(model).map(
                        why -> b.id() + " cannot read " + model.getFileName() + ": " + why));
    }

    /**
     * The backend that quantizes {@code request}: as {@link #select(String)}, but the default (when nothing is
     * configured) is the highest-ranked usable backend that quantizes the request's model format
     * ({@link Capabilities#quantizes}) and takes the request: one that would refuse it
     * ({@link Backend#requestProblem}: {@code --target onnxruntime} for OpenVINO, say) or cannot read the model
     * ({@link Backend#readProblem}) is passed over. A configured backend is kept: its {@code quantize} says what it
     * refuses.
     */
    public Choice selectToQuantize(String explicit, QuantizationRequest request) {
        Choice configured = configured(explicit);
        if (configured != null) return configured;
        Path model = request.model();
        return firstUsable("reads the model and takes the request", " quantizes " + model.getFileName(),
                b -> b.capabilities().quantizes(model), b -> {
            Optional<String> refused = b.requestProblem(request);
            if (refused.isPresent()) {
                String why = refused.get();
                if (why.startsWith(b.id() + ": ")) why = why.substring(b.id().length() + 2);
                return Optional.of(b.id() + " would refuse this request: " + why);
            }
            return b.readProblem(model).map(why -> b.id() + " cannot read " + model.getFileName() + ": " + why);
        });
    }

    /** The choice named by the option, property, environment or config file, in that order; null when none is. */
    private Choice configured(String explicit) {
        if (explicit != null && !explicit.isBlank()) {
            return choose(explicit, "--backend");
        }
        String prop = properties.get(PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return choose(prop, "system property " + PROPERTY);
        }
        String env = environment.get(ENV);
        if (env != null && !env.isBlank()) {
            return choose(env, "environment variable " + ENV);
        }
        Path config = configFile();
        if (config != null) {
            String fromFile = readConfig(config);
            if (fromFile != null && !fromFile.isBlank()) {
                return choose(fromFile, "config file " + config);
            }
        }
        return null;
    }

    /**
     * The highest-ranked usable backend that {@code handles} (others are skipped without a word) and has no
     * {@code problem} (a backend with one is passed over, the problem kept as "id ...: why"); {@code what} says, in
     * the source, what the chosen one does ("reads the model"), {@code none} in the error when none does (" reads
     * m.onnx").
     */
    private Choice firstUsable(String what, String none, Predicate<Backend> handles,
                               Function<Backend, Optional<String>> problem) {
        List<String> passedOver = new ArrayList<>();
        for (Backend b : backends) {
            if (!b.status().usable() || !handles.test(b)) continue;
            Optional<String> why = problem.apply(b);
            if (why.isEmpty()) {
                return passedOver.isEmpty()
                        ? new Choice(b, DEFAULT + " (highest-ranked usable backend)")
                        : new Choice(b, DEFAULT + " (highest-ranked usable backend that " + what + "; "
                                + String.join("; ", passedOver) + ")", passedOver);
            }
            passedOver.add(why.get());
        }
        throw new QuantbridgeException("no usable backend" + none
                + (passedOver.isEmpty() ? "" : " (" + String.join("; ", passedOver) + ")") + ":\n" + statusTable());
    }

    /**
     * The backend that runs {@code model}: as {@link #select(String, Path)}, and a named backend must read the model's
     * format ({@link Capabilities#reads}); the error names what named it.
     */
    public Choice selectToRun(String explicit, Path model) {
        Choice c = select(explicit, model);
        if (c.configured() && !c.backend().capabilities().reads(model)) {
            throw new QuantbridgeException("backend '" + c.backend().id() + "' (from " + c.source() + ") does not read "
                    + model.getFileName() + " (it reads " + c.backend().capabilities().modelExtensions() + ")");
        }
        return c;
    }

    /** The config file in force, or null. A file named explicitly must exist. */
    public Path configFile() {
        String named = properties.get(CONFIG_PROPERTY);
        String source = "system property " + CONFIG_PROPERTY;
        if (named == null || named.isBlank()) {
            named = environment.get(CONFIG_ENV);
            source = "environment variable " + CONFIG_ENV;
        }
        if (named != null && !named.isBlank()) {
            Path p = Path.of(named);
            if (!Files.isRegularFile(p)) {
                throw new QuantbridgeException("config file " + p + " (from " + source + ") "
                        + (Files.isDirectory(p) ? "is a folder, not a file" : "does not exist"));
            }
            return p;
        }
        return defaultConfig != null && Files.isRegularFile(defaultConfig) ? defaultConfig : null;
    }

    /**
     * The config file's {@code backend}, or null. It is a Java properties file in UTF-8 whose only key is
     * {@value #CONFIG_KEY}: another key is refused (a misspelt {@code backend} would otherwise leave the default in
     * force without a word).
     */
    private static String readConfig(Path config) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(config)) {
            p.load(r);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new QuantbridgeException("config file " + config + " is not UTF-8 text", e);
        } catch (IOException e) {
            throw new QuantbridgeException("config file " + config + ": cannot be read: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            // Properties.load on a malformed unicode escape
            throw new QuantbridgeException("config file " + config + " is not a valid properties file: "
                    + e.getMessage(), e);
        }
        for (String key : new java.util.TreeSet<>(p.stringPropertyNames())) {
            if (!key.equals(CONFIG_KEY)) {
                throw new QuantbridgeException("config file " + config + ": unknown key '" + key + "' (the only key is "
                        + CONFIG_KEY + ", e.g. " + CONFIG_KEY + "=onnx)");
            }
        }
        return p.getProperty(CONFIG_KEY);
    }

    private Choice choose(String id, String source) {
        Backend b = find(id).orElseThrow(() -> new QuantbridgeException(
                "unknown backend '" + id.trim() + "' (from " + source + "); the backends are:\n" + statusTable()));
        BackendStatus s = b.status();
        if (!s.usable()) {
            throw new QuantbridgeException("backend '" + b.id() + "' (from " + source + ") is not usable: "
                    + s.reason() + (s.fix() == null ? "" : "; " + s.fix()) + "\nthe backends are:\n" + statusTable());
        }
        return new Choice(b, source);
    }

    /** One line a backend: id, rank and status. */
    public String statusTable() {
        StringBuilder sb = new StringBuilder();
        for (Backend b : backends) {
            sb.append(String.format(Locale.ROOT, "  %-9s %s%n", b.id(), b.status().describe()));
        }
        return sb.toString().stripTrailing();
    }
}
