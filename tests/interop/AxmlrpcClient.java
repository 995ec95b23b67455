/*
 * A Java program using aXMLRPC (de.timroes.axmlrpc, Debian libaxmlrpc-java), as an
 * Android or desktop integration uses it.
 *
 * Usage: java AxmlrpcClient URL A B NAME LARGE_COUNT MARKUP FLAGS [HEADER=VALUE]
 * FLAGS is "+"-joined names of XMLRPCClient.FLAGS_* constants ("NONE", "STRICT",
 * "8BYTE_INT+NIL", "APACHE_WS"); HEADER=VALUE is sent with every call (to test
 * e.g. a transport that labels plain bodies Content-Encoding: gzip).
 * Prints one JSON object per call; faults are the native XMLRPCServerException.
 */

import de.timroes.axmlrpc.XMLRPCClient;
import de.timroes.axmlrpc.XMLRPCServerException;

import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TimeZone;

public final class AxmlrpcClient {
    private final XMLRPCClient client;

    private AxmlrpcClient(XMLRPCClient client) {
        this.client = client;
    }

    /** One call: print its result, its fault, or the exception the library raised. */
    private Object call(String label, String method, Object... params) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("call", label);
        Object result = null;
        try {
            result = client.call(method, params);
            line.put("result", result);
        } catch (XMLRPCServerException fault) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("code", fault.getErrorNr());
            entry.put("message", fault.getMessage());
            line.put("fault", entry);
            line.put("native", fault.getClass().getSimpleName());
        } catch (Exception error) {
            line.put("error", error.getClass().getSimpleName() + ": " + error.getMessage());
        }
        System.out.println(Json.write(line));
        System.out.flush();
        return result;
    }

    private static int flags(String names) throws ReflectiveOperationException {
        int flags = 0;
        for (String name : names.split("\\+")) {
            flags |= XMLRPCClient.class.getField("FLAGS_" + name).getInt(null);
        }
        return flags;
    }

    private static Map<String, Object> struct(Object... pairs) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put((String) pairs[i], pairs[i + 1]);
        }
        return map;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 7) {
            System.err.println("usage: AxmlrpcClient URL A B NAME LARGE_COUNT MARKUP FLAGS [H=V]");
            System.exit(2);
        }
        int a = Integer.parseInt(args[1]), b = Integer.parseInt(args[2]);
        int large = Integer.parseInt(args[4]);
        XMLRPCClient library = new XMLRPCClient(new URL(args[0]), flags(args[6]));
        library.setTimeout(10);
        if (args.length > 7) {
            String[] header = args[7].split("=", 2);
            library.setCustomHttpHeader(header[0], header[1]);
        }
        new AxmlrpcClient(library).run(a, b, args[3], large, args[5]);
    }

    private void run(int a, int b, String name, int large, String markup) {
        call("add", "add", a, b);
        call("subtract", "subtract", a, b);
        call("divide", "divide", a, b);
        call("divide_by_zero", "divide", a, 0);
        call("hello", "hello", name);
        call("hello_astral", "hello", "emoji \uD83D\uDE00");  // U+1F600, a surrogate pair in Java
        call("ping_markup", "ping", markup);
        call("ping_struct", "ping", struct("number", a, "text", "plain",
                "list", new Object[] {a, b, "three"}, "nested", struct("real", 2.5)));
        call("ping_array", "ping", (Object) new Object[] {a, "two", struct("key", b),
                new Object[] {1.5}});
        call("ping_double", "ping", -1234.5);
        call("ping_boolean", "ping", true);
        SimpleDateFormat format = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss");
        format.setTimeZone(TimeZone.getTimeZone("UTC"));
        Date when = new Date(1767323045000L);  // 2026-01-02T03:04:05Z
        Object echoed = call("ping_datetime_native", "ping", when);
        printDerived("ping_datetime", echoed instanceof Date ? format.format((Date) echoed) : null);
        echoed = call("ping_base64_native", "ping",
                (Object) "\u0000\u0001\u00fe\u00ff<bin>".getBytes(StandardCharsets.ISO_8859_1));
        printDerived("ping_base64", echoed instanceof byte[]
                ? hex((byte[]) echoed) : null);
        call("unknown_method", "no_such_method", a);
        call("i8_result", "getpow", 2, 40);
        call("ping_i8", "ping", 1L << 40);
        call("ping_nil", "ping", (Object) null);
        call("multicall", "system.multicall", (Object) new Object[] {
            struct("methodName", "add", "params", new Object[] {a, b}),
            struct("methodName", "subtract", "params", new Object[] {a, b}),
            struct("methodName", "divide", "params", new Object[] {a, 0})});
        pingLarge(large);
        sequential(b);
    }

    private static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) {
            out.append(String.format("%02x", b & 0xff));
        }
        return out.toString();
    }

    /** A value derived from an earlier call's result, on a line of its own. */
    private static void printDerived(String label, Object value) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("call", label);
        if (value == null) {
            line.put("error", "the earlier call failed or returned another type");
        } else {
            line.put("result", value);
        }
        System.out.println(Json.write(line));
    }

    private void pingLarge(int large) {
        Object[] numbers = new Object[large];
        for (int i = 0; i < large; i++) {
            numbers[i] = i;
        }
        Object echoed;
        try {
            echoed = client.call("ping", (Object) numbers);
        } catch (Exception error) {
            printDerived("ping_large", null);
            return;
        }
        long sum = 0;
        Object[] items = (Object[]) echoed;
        for (Object item : items) {
            sum += (Integer) item;
        }
        printDerived("ping_large", struct("count", items.length, "sum", sum));
    }

    private void sequential(int b) {
        int count = 0;
        long sum = 0;
        String failure = null;
        for (int i = 0; i < 100 && failure == null; i++) {
            try {
                sum += (Integer) client.call("add", i, b);
                count++;
            } catch (Exception error) {
                failure = error.toString();
            }
        }
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("call", "sequential");
        line.put(failure == null ? "result" : "error",
                failure == null ? struct("count", count, "sum", sum) : failure);
        System.out.println(Json.write(line));
    }

    /** Just enough JSON for the values aXMLRPC returns. */
    static final class Json {
        static String write(Object value) {
            StringBuilder out = new StringBuilder();
            append(out, value);
            return out.toString();
        }

        private static void append(StringBuilder out, Object value) {
            if (value == null) {
                out.append("null");
            } else if (value instanceof String) {
                appendString(out, (String) value);
            } else if (value instanceof Number || value instanceof Boolean) {
                out.append(value);
            } else if (value instanceof Map) {
                out.append('{');
                String separator = "";
                for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                    out.append(separator);
                    appendString(out, String.valueOf(entry.getKey()));
                    out.append(':');
                    append(out, entry.getValue());
                    separator = ",";
                }
                out.append('}');
            } else if (value instanceof Object[]) {
                Object[] items = (Object[]) value;
                out.append('[');
                for (int i = 0; i < items.length; i++) {
                    out.append(i == 0 ? "" : ",");
                    append(out, items[i]);
                }
                out.append(']');
            } else {
                appendString(out, "<" + value.getClass().getName() + ">");
            }
        }

        private static void appendString(StringBuilder out, String text) {
            out.append('"');
            for (char c : text.toCharArray()) {
                if (c == '"' || c == '\\') {
                    out.append('\\').append(c);
                } else if (c < 0x20) {
                    out.append(String.format("\\u%04x", (int) c));
                } else {
                    out.append(c);
                }
            }
            out.append('"');
        }
    }
}
