// Amazon's DynamoDB Local on loopback only, and only while the process that started it lives.
//
// DynamoDB Local has no bind-address option: its Jetty server listens on every interface. This
// launcher builds the server exactly as DynamoDB Local's own main does (same arguments), sets its
// one connector's host to 127.0.0.1 before it starts, and exits when its parent process is gone
// (however the parent ended, SIGKILL included), removing its working directory (the system property
// cacheswarm.workdir) as it goes. Compiled by cacheswarm against the installed jar.
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.stream.Stream;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        long parent = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
        String workdir = System.getProperty("cacheswarm.workdir");
        if (workdir != null) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> removeTree(Paths.get(workdir))));
        }
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server jetty = (Server) field.get(proxy);
        for (Connector c : jetty.getConnectors()) {
            ((ServerConnector) c).setHost("127.0.0.1");
        }
        proxy.start();
        System.out.println("cacheswarm: DynamoDB Local listening on 127.0.0.1 only");
        System.out.flush();
        while (true) {
            Thread.sleep(500);
            long now = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
            if (now != parent) {
                System.exit(0);
            }
        }
    }

    static void removeTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // already gone
        }
    }
}
