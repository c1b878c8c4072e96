import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * The Java program of the havengate test lab: a stand-in for ActiveMQ and friends.
 *
 * <p>One argument: a control file of {@code key=value} lines ({@code name}, {@code mode} =
 * normal|hang|exit, {@code bind}, {@code delay} in seconds, {@code ports} = P1,P2). The lab
 * keeps these out of the command line so nothing reads the lab's decision from argv.
 *
 * <ul>
 *   <li>{@code normal}: after the delay, listen on every port and answer any request with
 *       {@code HTTP/1.0 200 OK} and a short body.
 *   <li>{@code hang}: what OpenVZ bug 2206 looks like from outside. Several threads start;
 *       one loops forever in one-second timed waits (futex FUTEX_WAIT_PRIVATE with a timeout,
 *       then ETIMEDOUT), the main thread joins it forever, no port is ever opened, and a
 *       shutdown hook that never returns makes SIGTERM useless: only SIGKILL ends it.
 *   <li>{@code exit}: exit 1 at once.
 * </ul>
 */
public final class LabServer {
    private LabServer() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parse(args);
        String name = options.getOrDefault("name", "app");
        String mode = options.getOrDefault("mode", "normal");
        switch (mode) {
            case "exit":
                System.err.println("LabServer " + name + ": exiting with status 1 as told");
                System.exit(1);
                return;
            case "hang":
                hang(name, busy(options));
                return;
            case "normal":
                break;
            default:
                System.err.println("LabServer: unknown mode " + mode);
                System.exit(2);
        }
        long delayMillis = (long) (Double.parseDouble(options.getOrDefault("delay", "0")) * 1000);
        double busy = busy(options);
        if (delayMillis > 0 && busy > 0) {
            burn(busy, System.nanoTime() + delayMillis * 1_000_000L);  // a slow starter works
        } else if (delayMillis > 0) {
            Thread.sleep(delayMillis);
        }
        InetAddress bind = bindAddress(options.getOrDefault("bind", "*"));
        for (int port : ports(options.getOrDefault("ports", ""))) {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(bind == null ? new InetSocketAddress(port) : new InetSocketAddress(bind, port), 50);
            Thread acceptor = new Thread(() -> serve(server, name), "lab-accept-" + port);
            acceptor.start();
        }
        System.out.println("LabServer " + name + " listening on " + options.get("ports"));
    }

    private static Map<String, String> parse(String[] args) throws IOException {
        if (args.length != 1) {
            throw new IllegalArgumentException("usage: LabServer CONTROL_FILE");
        }
        Map<String, String> options = new HashMap<>();
        for (String line : Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                options.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return options;
    }

    private static List<Integer> ports(String text) {
        List<Integer> ports = new ArrayList<>();
        for (String item : text.split(",")) {
            if (!item.isEmpty()) {
                ports.add(Integer.parseInt(item));
            }
        }
        return ports;
    }

    /** {@code *} is the wildcard (null): the JVM opens a dual-stack socket on {@code ::}. */
    private static InetAddress bindAddress(String text) throws IOException {
        if (text.equals("*")) {
            return null;
        }
        return InetAddress.getByName(text);
    }

    private static void serve(ServerSocket server, String name) {
        while (true) {
            try {
                Socket client = server.accept();
                Thread worker = new Thread(() -> answer(client, name, server.getLocalPort()), "lab-conn");
                worker.setDaemon(true);
                worker.start();
            } catch (IOException e) {
                System.err.println("LabServer accept failed: " + e);
                return;
            }
        }
    }

    private static void answer(Socket client, String name, int port) {
        try (Socket socket = client) {
            socket.setSoTimeout(1000);
            BufferedReader in = new BufferedReader(
                    new InputStreamReader(socket.getInputStream(), StandardCharsets.ISO_8859_1));
            try {
                String line = in.readLine();
                while (line != null && !line.isEmpty()) {
                    line = in.readLine();
                }
            } catch (IOException timeoutOrReset) {
                // Answer anyway: a bare TCP probe that sends nothing still gets a reply.
            }
            byte[] body = ("labserver " + name + " port " + port + "\n").getBytes(StandardCharsets.US_ASCII);
            String head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n";
            OutputStream out = socket.getOutputStream();
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
        } catch (IOException e) {
            System.err.println("LabServer answer failed: " + e);
        }
    }

    private static double busy(Map<String, String> options) {
        return Math.max(0.0, Math.min(1.0, Double.parseDouble(options.getOrDefault("busy", "0"))));
    }

    /** Use {@code share} of one CPU until {@code untilNanos}: spin, then sleep, in 100 ms slices. */
    private static void burn(double share, long untilNanos) {
        long sink = 0;
        while (System.nanoTime() < untilNanos) {
            long sliceEnd = System.nanoTime() + (long) (share * 100_000_000L);
            while (System.nanoTime() < sliceEnd) {
                sink += sink * 31 + 7;
            }
            long rest = (long) ((1.0 - share) * 100);
            if (rest > 0) {
                try {
                    Thread.sleep(rest);
                } catch (InterruptedException ignored) {
                    // keep working
                }
            }
        }
        if (sink == 42) {
            System.out.println("");  // keep the JIT from dropping the loop
        }
    }

    private static void hang(String name, double busy) throws InterruptedException {
        Runtime.getRuntime().addShutdownHook(new Thread(LabServer::blockForever, "lab-hang-hook"));
        if (busy > 0) {  // a hung JVM keeps its other threads: metrics, a scheduler, GC
            Thread metrics = new Thread(() -> burn(busy, Long.MAX_VALUE), "lab-metrics");
            metrics.setDaemon(true);
            metrics.start();
        }
        for (int i = 0; i < 3; i++) {
            Thread parked = new Thread(() -> {
                while (true) {
                    LockSupport.park();
                }
            }, "lab-worker-" + i);
            parked.setDaemon(true);
            parked.start();
        }
        Thread looper = new Thread(LabServer::timedWaitForever, "lab-futex-loop");
        looper.start();
        System.out.println("LabServer " + name + " hanging (no port will open)");
        looper.join();
    }

    private static void timedWaitForever() {
        Object monitor = new Object();
        synchronized (monitor) {
            while (true) {
                try {
                    monitor.wait(1000);
                } catch (InterruptedException ignored) {
                    // A hung JVM does not react to interrupts either.
                }
            }
        }
    }

    private static void blockForever() {
        Object monitor = new Object();
        synchronized (monitor) {
            while (true) {
                try {
                    monitor.wait();
                } catch (InterruptedException ignored) {
                    // Keep SIGTERM from finishing the shutdown.
                }
            }
        }
    }
}
