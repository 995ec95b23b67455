# Ruby's XMLRPC::Client (the xmlrpc gem, Debian ruby-xmlrpc), as a Ruby script uses it.
#
# Usage: ruby ruby_xmlrpc_client.rb URL A B NAME LARGE_COUNT
# Prints one JSON object per call. A fault is the native XMLRPC::FaultException;
# #multicall returns a value or a FaultException per call. The client itself
# checks every reply: Content-Type must be text/xml (or application/xml) and
# Content-Length must match the body, so any gateway slip there shows up as
# an "error" line here.
require "json"
require "xmlrpc/client"

url, a, b, name, large = ARGV
abort "usage: ruby #{$PROGRAM_NAME} URL A B NAME LARGE_COUNT" if large.nil?
a = Integer(a)
b = Integer(b)
name = name.dup.force_encoding(Encoding::UTF_8) # ARGV is tagged with the locale's encoding
client = XMLRPC::Client.new_from_uri(url, nil, 10)

def fault_entry(fault)
  { "code" => fault.faultCode, "message" => fault.faultString }
end

# Run one call; print its result, its fault, or the error the client raised.
def report(call)
  line = { "call" => call }
  begin
    line["result"] = yield
  rescue XMLRPC::FaultException => fault
    line["fault"] = fault_entry(fault)
    line["native"] = fault.class.name
  rescue StandardError => error
    line["error"] = "#{error.class}: #{error.message}"
  end
  puts JSON.generate(line)
  $stdout.flush
end

report("add") { client.call("add", a, b) }
report("subtract") { client.call("subtract", a, b) }
report("divide") { client.call("divide", a, b) }
report("divide_by_zero") { client.call("divide", a, 0) }
report("hello") { client.call("hello", name) }
report("ping_struct") do
  client.call("ping", { "number" => a, "text" => "plain", "list" => [a, b, "three"],
                        "nested" => { "real" => 2.5 } })
end
report("ping_array") { client.call("ping", [a, "two", { "key" => b }, [1.5]]) }
report("multicall") do
  client.multicall(["add", a, b], ["subtract", a, b], ["divide", a, 0]).map do |answer|
    answer.is_a?(XMLRPC::FaultException) ? { "fault" => fault_entry(answer) } : { "result" => answer }
  end
end
report("ping_large") do
  echoed = client.call("ping", (0...Integer(large)).to_a)
  { "count" => echoed.size, "sum" => echoed.sum }
end
report("i8_result") { client.call("getpow", 2, 40) }
