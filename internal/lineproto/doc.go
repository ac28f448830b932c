// Package lineproto reads and writes InfluxDB line protocol: the body of a
// /write request. It knows nothing of HTTP; httpapi only wires it.
//
// Parse follows InfluxDB 1.8's models/points.go rule for rule and reports
// bad lines with InfluxDB's reason texts, so clients (Telegraf drops a
// batch whose error contains "unable to parse") behave as they do against
// InfluxDB. The syntax of one line is
//
//	measurement[,tagkey=tagvalue...] fieldkey=fieldvalue[,fieldkey=fieldvalue...] [timestamp]
//
// Escapes: in the measurement a backslash escapes comma and space; in tag
// keys, tag values and field keys it escapes comma, equals and space. A
// character directly after a backslash never ends a measurement, tag key
// or tag value (InfluxDB's scanner rule), and only the escape pairs above
// are unescaped; any other backslash stays literal. Field values are
// floats (the default; decimal with optional exponent, no NaN or Inf),
// integers with an i suffix, unsigned integers with a u suffix, booleans
// (t, T, true, True, TRUE, f, F, false, False, FALSE) or double-quoted
// strings in which \" and \\ are escapes and which may span lines. The
// timestamp is an integer in the request's precision; without one the
// point gets the server time truncated to that precision. Lines whose
// first non-blank character is # are comments.
//
// Deliberate differences from InfluxDB 1.8, each because 1.8's behaviour
// loses data or accepts garbage:
//   - CRLF line ends are accepted (1.8 rejects the line: "invalid number"
//     or "bad timestamp").
//   - Unsigned values (42u) are accepted; 1.8 has them behind a switch
//     that is off by default.
//   - A comment ends at the end of its physical line, even when it holds
//     a double quote (1.8 may swallow the following lines into it).
//   - A bad line never takes the lines after it with it: when an
//     unbalanced quote would join several physical lines into one bad
//     line (1.8 drops them all), only the first physical line is reported
//     bad and parsing resumes on the next one. A string value that
//     legitimately spans lines is still accepted.
//   - Anything but a comma or a space right after a string value's closing
//     quote is "invalid field format" (1.8 silently accepts f="a"b).
//   - An empty field key is always "missing field key" (1.8 lets it
//     through after a tab).
//   - Tags with the same key after unescaping are "duplicate tags" (1.8
//     compares the escaped bytes).
//   - At most MaxLineErrors bad lines are listed in a ParseError; the rest
//     are only counted, so a hostile body cannot make a huge error.
//
// Not a parser matter in InfluxDB, and so not done by Parse: 1.8 drops
// points with a tag keyed "time" and skips fields named "time" when it
// stores a batch (tsdb/shard.go), answering "partial write: invalid tag
// key: input tag \"time\" on measurement \"m\" is invalid dropped=1" or
// "... invalid field name: input field \"time\" ...". Parse passes such
// points through; the storage engine applies that rule when it applies a
// batch (storage.Engine.WriteBatch), so every replica applies it alike.
package lineproto
