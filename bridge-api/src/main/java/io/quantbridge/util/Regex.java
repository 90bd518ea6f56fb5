package io.quantbridge.util;

import java.util.Collection;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import java.util.stream.Collectors;

/** {@code --exclude} patterns: a regular expression, or a name when the text does not compile as one. */
public final class Regex {
    private Regex() { }

    public static boolean compiles(String pattern) {
        try {
            Pattern.compile(pattern);
            return true;
        } catch (PatternSyntaxException e) {
            return false;
        }
    }

    /**
     * What an error about unmatched patterns adds for those that are no regular expression (a user who meant one sees
     * why it matched nothing): {@code "; 'Conv@[0' is no valid regular expression, so it was taken as a name"}.
     */
    public static String takenAsNames(Collection<String> patterns) {
        return patterns.stream().filter(p -> !compiles(p))
                .map(p -> "; '" + p + "' is no valid regular expression, so it was taken as a name")
                .collect(Collectors.joining());
    }
}
