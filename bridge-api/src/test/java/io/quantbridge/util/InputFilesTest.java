package io.quantbridge.util;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class InputFilesTest {
    /** The sentence added where a file name may have lost characters to the JVM's file-name encoding. */
    @Test
    void theEncodingHintNamesTheEncodingWhereANameMayHaveLostCharacters() {
        String hint = "; the JVM's file-name encoding is ANSI_X3.4-1968 (the C/POSIX locale), in which names with other"
                + " than ASCII characters come out as ?: run Java with a UTF-8 locale (LANG=C.UTF-8)";
        assertEquals(hint, InputFiles.encodingHint("photos/caf??.jpg", "ANSI_X3.4-1968"));
        assertEquals(hint, InputFiles.encodingHint("photos/caf\u00e9.jpg", "ANSI_X3.4-1968"));
        assertEquals("", InputFiles.encodingHint("photos/cafe.jpg", "ANSI_X3.4-1968"));
        assertEquals("", InputFiles.encodingHint("photos/caf??.jpg", "UTF-8"));
        assertEquals("", InputFiles.encodingHint("photos/caf??.jpg", "utf8"));
    }
}
