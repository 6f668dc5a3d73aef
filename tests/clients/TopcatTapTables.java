// TOPCAT's TAP window, reduced to its table browser: reads the service's table metadata as the window does
// (TapServiceKit with TOPCAT's default metadata policy and the star.basicauth login), prints each table name,
// shows the browser panel in a frame and saves a screenshot. Run with TOPCAT's jar under Xvfb (test_clients.py).
import java.awt.Rectangle;
import java.awt.Robot;
import java.io.File;
import javax.imageio.ImageIO;
import javax.swing.JFrame;
import javax.swing.SwingUtilities;
import uk.ac.starlink.util.ContentCoding;
import uk.ac.starlink.util.PropertyAuthenticator;
import uk.ac.starlink.vo.SchemaMeta;
import uk.ac.starlink.vo.TableMeta;
import uk.ac.starlink.vo.TableSetPanel;
import uk.ac.starlink.vo.TapMetaPolicy;
import uk.ac.starlink.vo.TapMetaReader;
import uk.ac.starlink.vo.TapService;
import uk.ac.starlink.vo.TapServiceKit;
import uk.ac.starlink.vo.TapServices;

public class TopcatTapTables {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        PropertyAuthenticator.installInstance(true);  // as TOPCAT's start-up does: -Dstar.basicauth.user/password
        TapService service = TapServices.createDefaultTapService(url);
        TapMetaPolicy policy = TapMetaPolicy.getDefaultInstance();
        TapServiceKit kit = new TapServiceKit(service, null, policy, ContentCoding.GZIP, 4);
        TapMetaReader reader = policy.createMetaReader(service, ContentCoding.GZIP);
        System.out.println("means " + reader.getMeans());
        for (SchemaMeta schema : reader.readSchemas()) {
            TableMeta[] tables = schema.getTables() != null ? schema.getTables() : reader.readTables(schema);
            for (TableMeta table : tables) {
                System.out.println("table " + table.getName());
            }
        }
        if (args.length > 1) {
            SwingUtilities.invokeAndWait(() -> {
                JFrame frame = new JFrame("TOPCAT TAP: " + url);
                TableSetPanel panel = new TableSetPanel(null);
                panel.setServiceKit(kit);
                frame.getContentPane().add(panel);
                frame.setBounds(0, 0, 1000, 700);
                frame.setVisible(true);
            });
            Thread.sleep(5000);
            ImageIO.write(new Robot().createScreenCapture(new Rectangle(0, 0, 1000, 700)), "png", new File(args[1]));
        }
        System.exit(0);
    }
}
