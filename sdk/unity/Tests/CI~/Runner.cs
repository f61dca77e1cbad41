// Runs the package's NUnit tests under Mono without the Unity editor (the
// folder ends in ~, so Unity ignores it): every [Test] of every [TestFixture]
// with its [SetUp]/[TearDown]; async tests are awaited. Exit code = failures.
using System;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using NUnit.Framework;

public static class Runner
{
    public static int Main()
    {
        int failed = 0, passed = 0;
        foreach (var t in typeof(Runner).Assembly.GetTypes().Where(t => t.GetCustomAttributes(typeof(TestFixtureAttribute), false).Any()))
        {
            var methods = t.GetMethods();
            var setUp = methods.FirstOrDefault(m => m.GetCustomAttributes(typeof(SetUpAttribute), false).Any());
            var tearDown = methods.FirstOrDefault(m => m.GetCustomAttributes(typeof(TearDownAttribute), false).Any());
            foreach (var m in methods.Where(m => m.GetCustomAttributes(typeof(TestAttribute), false).Any()))
            {
                var fixture = Activator.CreateInstance(t);
                var t0 = DateTime.UtcNow;
                try
                {
                    setUp?.Invoke(fixture, null);
                    var r = m.Invoke(fixture, null) as Task;
                    r?.GetAwaiter().GetResult();
                    passed++;
                    Console.WriteLine("ok {0}.{1} ({2:0} ms)", t.Name, m.Name, (DateTime.UtcNow - t0).TotalMilliseconds);
                }
                catch (Exception e)
                {
                    var inner = e is TargetInvocationException && e.InnerException != null ? e.InnerException : e;
                    if (inner is IgnoreException)
                    {
                        Console.WriteLine("skipped {0}.{1}: {2}", t.Name, m.Name, inner.Message);
                        continue;
                    }
                    failed++;
                    Console.WriteLine("FAIL {0}.{1}: {2}", t.Name, m.Name, inner);
                }
                finally
                {
                    try
                    {
                        tearDown?.Invoke(fixture, null);
                    }
                    catch (Exception e)
                    {
                        Console.WriteLine("teardown of {0}: {1}", m.Name, e.Message);
                    }
                }
            }
        }
        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed;
    }
}
