package io.quantbridge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConsoleProgressTest {
    /** What the terminal shows last on each line: the text after the last redraw of that line. */
    private static List<String> lines(StringWriter w) {
        return Arrays.stream(w.toString().split("\n")).map(l -> l.substring(l.lastIndexOf("\033[K") + 3)).toList();
    }

    @Test
    void aTerminalSeesCountsTimeLeftAndNoCountForATaskOfUnknownLength() throws Exception {
        StringWriter w = new StringWriter();
        ConsoleProgress p = new ConsoleProgress(new PrintWriter(w), false, true);
        p.begin("calibrating", 4);
        p.advance(1);
        String partial = w.toString().substring(w.toString().lastIndexOf("\033[K") + 3);
        assertTrue(partial.matches("calibrating \\[#{7} {23}] 1/4 \\d+\\.\\ds, about \\d+s left"), partial);
        Thread.sleep(120); // redraws come at most every 100 ms, and always at the end
        p.advance(3);
        p.begin("computing mse ranges", 0);
        p.end();
        List<String> l = lines(w);
        assertEquals(2, l.size(), w.toString());
        assertTrue(l.get(0).matches("calibrating \\[#{30}] 4/4 \\d+\\.\\ds"), l.get(0));
        assertTrue(l.get(1).matches("computing mse ranges \\d+\\.\\ds"), l.get(1)); // was "... 0 0.1s"
    }

    @Test
    void aLogGetsALinePerTaskStartAndEnd() {
        StringWriter w = new StringWriter();
        ConsoleProgress p = new ConsoleProgress(new PrintWriter(w), false, false);
        p.begin("calibrating", 4);
        p.advance(4);
        p.end();
        String[] l = w.toString().split("\n");
        assertEquals("calibrating (4) ...", l[0]);
        assertTrue(l[1].matches("calibrating: done in \\d+\\.\\d s"), l[1]);
    }
}
