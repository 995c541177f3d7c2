/*
 * Lets Debian's JMeter 2.13 load test plans again on a current XStream.
 *
 * XStream 1.4.18 and later deny every type that is not explicitly allowed, and
 * JMeter 2.13 (2015) never allows its own, so on Debian bookworm (XStream
 * 1.4.20) loading any .jmx fails with ForbiddenClassException. JMeter 5.x
 * configures XStream itself and does not need this.
 *
 * The hook is JMeter's own: SaveService registers every class listed in
 * saveservice.properties as "_<class>=collection" as an XStream converter, once
 * on the test-plan XStream and once on the results XStream, and builds it with
 * the XStream's Mapper. This "converter" converts nothing (canConvert is always
 * false); its constructor finds XStream's SecurityMapper through the public
 * Mapper chain and allows org.apache.jmeter.** and org.apache.jorphan.**, and
 * nothing else, on top of XStream's defaults. No JMeter or XStream file is
 * changed; jmeter/run passes a copy of saveservice.properties with this one
 * line added (-Jsaveservice_properties) and this jar (-Juser.classpath).
 */
package gateway.loadtest;

import com.thoughtworks.xstream.converters.Converter;
import com.thoughtworks.xstream.converters.MarshallingContext;
import com.thoughtworks.xstream.converters.UnmarshallingContext;
import com.thoughtworks.xstream.io.HierarchicalStreamReader;
import com.thoughtworks.xstream.io.HierarchicalStreamWriter;
import com.thoughtworks.xstream.mapper.Mapper;
import com.thoughtworks.xstream.mapper.SecurityMapper;
import com.thoughtworks.xstream.security.WildcardTypePermission;

public final class AllowJMeterTypes implements Converter {
    /** The only types this adds to XStream's allow-list. */
    static final String[] ALLOWED = {"org.apache.jmeter.**", "org.apache.jorphan.**"};

    private static boolean announced;

    public AllowJMeterTypes(Mapper mapper) {
        SecurityMapper security = (SecurityMapper) mapper.lookupMapperOfType(SecurityMapper.class);
        if (security == null) {
            // An XStream older than 1.4.7 has no security framework: nothing to allow.
            return;
        }
        security.addPermission(new WildcardTypePermission(ALLOWED));
        synchronized (AllowJMeterTypes.class) {
            if (!announced) {
                announced = true;
                System.err.println("xstream-fix: XStream now allows " + String.join(", ", ALLOWED));
            }
        }
    }

    public boolean canConvert(@SuppressWarnings("rawtypes") Class type) {
        return false;
    }

    public void marshal(Object source, HierarchicalStreamWriter writer, MarshallingContext context) {
        throw new UnsupportedOperationException("AllowJMeterTypes converts nothing");
    }

    public Object unmarshal(HierarchicalStreamReader reader, UnmarshallingContext context) {
        throw new UnsupportedOperationException("AllowJMeterTypes converts nothing");
    }
}
