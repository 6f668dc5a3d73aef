// Loads a TAP result as TOPCAT does and runs TOPCAT's "Invoke Service" activation action on its first row:
// the action must find the result's DataLink service descriptor, fill its ID from the row and fetch the links.
// Run with TOPCAT's jar on the class path, under Xvfb (tests/registry/test_live.py).
import uk.ac.starlink.table.StarTable;
import uk.ac.starlink.table.StarTableFactory;
import uk.ac.starlink.topcat.ControlWindow;
import uk.ac.starlink.topcat.Outcome;
import uk.ac.starlink.topcat.TopcatModel;
import uk.ac.starlink.topcat.activate.*;

public class TopcatDatalink {
    public static void main(String[] args) throws Exception {
        StarTable table = new StarTableFactory(true).makeStarTable(args[0]);
        TopcatModel model = ControlWindow.getInstance().addTable(table, args[0], true);
        TopcatModelInfo info = TopcatModelInfo.createInfo(model);
        ServiceActivationType type = new ServiceActivationType();
        System.out.println("rows " + table.getRowCount());
        System.out.println("suitability " + type.getSuitability(info));
        ActivatorConfigurator config = type.createConfigurator(info);
        System.out.println("config " + config.getConfigMessage());
        Activator activator = config.getActivator();
        System.out.println("activator " + (activator != null));
        if (activator != null) {
            Outcome outcome = activator.activateRow(0, ActivationMeta.NORMAL);
            System.out.println("outcome " + outcome.isSuccess() + " " + outcome.getMessage());
        }
        System.exit(0);
    }
}
