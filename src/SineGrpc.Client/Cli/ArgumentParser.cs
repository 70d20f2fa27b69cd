using System.Globalization;

namespace SineGrpc.Client.Cli;

/// <summary>The options given to one command, as strings, after syntax checks.</summary>
internal sealed class ParsedArguments(string command, IReadOnlyDictionary<string, List<string?>> values, bool helpRequested)
{
    public bool HelpRequested { get; } = helpRequested;

    public bool Has(string name) => values.ContainsKey(name);

    public string? Get(string name) => values.GetValueOrDefault(name)?[0];

    /// <summary>Every value of a repeatable option, in the order given; empty when absent.</summary>
    public IReadOnlyList<string> GetAll(string name) =>
        values.TryGetValue(name, out var given) ? given.Select(v => v!).ToList() : [];

    public string GetRequired(string name) =>
        Get(name) ?? throw new UsageException($"missing --{name} (see 'sine {command} --help')");

    /// <summary>A number option in (0, max], or null when absent.</summary>
    public double? GetPositive(string name, double max)
    {
        var text = Get(name);
        if (text is null)
        {
            return null;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || value > max)
        {
            throw new UsageException($"--{name} must be a number above 0 and at most {max.ToString(CultureInfo.InvariantCulture)}, not '{text}'");
        }
        return value;
    }

    /// <summary>An integer option in [min, max], or null when absent.</summary>
    public int? GetInt(string name, int min, int max)
    {
        var text = Get(name);
        if (text is null)
        {
            return null;
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"--{name} must be a whole number from {min} to {max}, not '{text}'");
        }
        return value;
    }
}

/// <summary>
/// Splits a command's arguments into options. Accepts <c>--name value</c> and <c>--name=value</c>;
/// rejects unknown options, repeated options (unless repeatable), missing values and stray positional arguments.
/// </summary>
internal static class ArgumentParser
{
    public static ParsedArguments Parse(CommandSpec command, IReadOnlyList<string> args)
    {
        // Help wins over everything else, so `sine track --help` works whatever else is on the line.
        if (args.Any(a => a is "-h" or "--help"))
        {
            return new ParsedArguments(command.Name, new Dictionary<string, List<string?>>(), helpRequested: true);
        }

        var values = new Dictionary<string, List<string?>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new UsageException($"unexpected argument '{arg}' (see 'sine {command.Name} --help')");
            }

            var equals = arg.IndexOf('=');
            var name = equals < 0 ? arg[2..] : arg[2..equals];
            var inlineValue = equals < 0 ? null : arg[(equals + 1)..];

            var spec = command.Options.FirstOrDefault(o => o.Name == name)
                ?? throw new UsageException($"unknown option '--{name}' for 'sine {command.Name}' (see 'sine {command.Name} --help')");
            if (values.ContainsKey(name) && !spec.Repeatable)
            {
                throw new UsageException($"--{name} is given more than once");
            }

            if (!spec.TakesValue)
            {
                if (inlineValue is not null)
                {
                    throw new UsageException($"--{name} takes no value");
                }
                values[name] = [null];
                continue;
            }

            var value = inlineValue;
            if (value is null)
            {
                // A following "--something" is the next option, not this option's value.
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new UsageException($"--{name} needs a value: --{name} <{spec.ValueName}>");
                }
                value = args[++i];
            }
            if (value.Length == 0)
            {
                throw new UsageException($"--{name} needs a non-empty value");
            }
            if (values.TryGetValue(name, out var earlier))
            {
                earlier.Add(value);
            }
            else
            {
                values[name] = [value];
            }
        }
        return new ParsedArguments(command.Name, values, helpRequested: false);
    }
}
